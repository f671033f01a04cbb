// bnn2hw shim for Vitis HLS's <ap_axi_sdata.h> (C++ simulation only; see bnn2hw/eda/cppsim_deps.py).
// Stands in for: qdma_axis<D, U, TI, TD>, the AXI-stream beat with TKEEP and TLAST that
// finn-hlslib's streamtools.h uses for QDMA adapters (Qdma2Stream_Batch, Stream2Qdma_Batch). Only
// the accessors those adapters call are provided; the side channels are plain members.
#ifndef BNN2HW_SHIM_AP_AXI_SDATA_H
#define BNN2HW_SHIM_AP_AXI_SDATA_H

#include <ap_int.h>

template <int D, int U, int TI, int TD>
struct qdma_axis {
  ap_uint<D> data;
  ap_uint<(D + 7) / 8> keep;
  ap_uint<1> last;

  ap_uint<D> get_data() const { return data; }
  void set_data(const ap_uint<D> &d) { data = d; }
  ap_uint<(D + 7) / 8> get_keep() const { return keep; }
  void set_keep(const ap_uint<(D + 7) / 8> &k) { keep = k; }
  ap_uint<1> get_last() const { return last; }
  void set_last(const ap_uint<1> &l) { last = l; }
};

#endif
