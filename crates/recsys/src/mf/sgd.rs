//! Biased MF trained by gradient descent (placeholder, filled in below).
