"""Views of the member area, one module per step of a member's journey."""
