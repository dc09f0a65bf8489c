//! pail-s3
