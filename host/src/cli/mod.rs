//! The kms command line.
