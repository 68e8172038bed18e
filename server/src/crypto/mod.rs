//! Key generation, import, signing and decryption (aws-lc-rs).
