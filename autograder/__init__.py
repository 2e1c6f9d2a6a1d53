"""What hidden tests call: the finite-difference oracle and the diagnosis of common mistakes."""
