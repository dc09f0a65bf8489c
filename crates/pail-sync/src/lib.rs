//! pail-sync
