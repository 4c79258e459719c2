"""Import of the clusters' member spreadsheets."""
