// bnn2hw shim for Vitis HLS's <hls_vector.h> (C++ simulation only; see bnn2hw/eda/cppsim_deps.py).
// Stands in for: hls::vector<T, N>, Vitis's fixed-size vector type. finn-hlslib's utils.hpp and
// flatten.hpp and FINN's npy2vectorstream.hpp include it; in cppsim they only index elements,
// iterate, fill and copy, which std::array provides. Vitis's element-wise arithmetic operators are
// not modelled: a layer that needs them fails to compile here instead of computing differently.
#ifndef BNN2HW_SHIM_HLS_VECTOR_H
#define BNN2HW_SHIM_HLS_VECTOR_H

#include <array>
#include <cstddef>

namespace hls {

template <typename T, std::size_t N>
struct vector : std::array<T, N> {
  vector() = default;
  vector(const T &value) { this->fill(value); }  // Vitis broadcasts a scalar to every element
};

}  // namespace hls

#endif
