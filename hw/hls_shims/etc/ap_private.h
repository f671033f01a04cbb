// bnn2hw shim around the open ap types' <etc/ap_private.h> (C++ simulation only; see
// bnn2hw/eda/cppsim_deps.py). ap_common.h includes this file right after naming the root type
// that ap_int_base and ap_fixed_base derive from; the shim stands in for two Vitis features the
// open headers lack:
// * ap_int_base::sign_flag (true for ap_int, false for ap_uint), which finn-hlslib's
//   LabelSelect_Batch static_asserts on: the root type is swapped for one that adds it;
// * the `half` type that Vitis's ap_int.h brings in (see hls_half.h).
// The open ap_private.h itself is found next on the include path (the ap types directory).
#ifndef BNN2HW_SHIM_AP_PRIVATE_H
#define BNN2HW_SHIM_AP_PRIVATE_H

#include "hls_half.h"

template <int _AP_W, bool _AP_S>
struct bnn2hw_ap_root : ssdm_int_sim<_AP_W, _AP_S> {
  static const bool sign_flag = _AP_S;
};
#undef _AP_ROOT_TYPE
#define _AP_ROOT_TYPE bnn2hw_ap_root

#include_next <etc/ap_private.h>

#endif
