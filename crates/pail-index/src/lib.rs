//! pail-index
