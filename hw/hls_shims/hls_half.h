// bnn2hw shim for Vitis HLS's <hls_half.h> (C++ simulation only; see bnn2hw/eda/cppsim_deps.py).
// Stands in for: `half`, Vitis's IEEE-754 binary16 type, which Vitis's ap_int.h brings in and
// finn-hlslib's interpret.hpp and flatten.hpp name (bit casts between half and ap_int<16>). The
// compiler's _Float16 has the same 16-bit layout, which is all those bit casts rely on; Vitis's
// half arithmetic library (the fpo libraries FINN links) is not modelled.
#ifndef BNN2HW_SHIM_HLS_HALF_H
#define BNN2HW_SHIM_HLS_HALF_H

typedef _Float16 half;

#endif
