"""Converters from published dataset layouts into the canonical layout (see `crackedge.data.prepare`)."""
