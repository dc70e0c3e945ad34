"""A local stand-in for the platforms sentinel watches: feeds, faults and replay scenarios."""
