"""What every stage shares: settings, the data folder's layout, the source registry, the
published-state store, DuckDB connections and release manifests. Imports nothing of the stages."""
