//! pail-watch
