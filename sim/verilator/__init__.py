"""The Verilator toolchain, builds with their caches, the plain C++ main and unit separation."""
