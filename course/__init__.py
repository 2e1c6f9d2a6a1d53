"""backprop: the course's reference NumPy implementation of backpropagation."""
