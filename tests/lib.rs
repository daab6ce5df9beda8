//! End-to-end tests of the workspace: see the files under `tests/tests/`.
