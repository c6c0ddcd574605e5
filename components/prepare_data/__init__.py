"""The prepare step: raw MovieLens / Last.fm / Amazon files -> dense Parquet tables, splits and candidates."""
