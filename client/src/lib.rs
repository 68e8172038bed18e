//! Keyhold client.
