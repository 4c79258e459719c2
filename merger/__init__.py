"""The merger of the source clusters into their successor (models come with the merger issue)."""
