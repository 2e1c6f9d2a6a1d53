"""What each graded function is checked against, by chapter."""
