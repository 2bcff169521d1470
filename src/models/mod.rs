//! Model files: the catalogue, verified downloads, air-gapped bundles.
