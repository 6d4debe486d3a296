//! Images: content-addressed blobs, archive import, layers unpacked once (filled in by the images work).
