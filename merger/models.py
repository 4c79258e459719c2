"""Models of the merger: they arrive with the merger issue."""
