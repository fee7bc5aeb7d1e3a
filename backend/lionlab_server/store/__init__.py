"""All SQL lives here: plain functions taking a Session and returning domain objects."""
