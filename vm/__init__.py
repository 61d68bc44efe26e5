"""ckc VM runner: fetch kernels, build an initramfs, boot QEMU, collect results JSON."""
