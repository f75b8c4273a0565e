"""Wire contracts of the four families: msgspec Structs, enums and error codes. Pure data."""
