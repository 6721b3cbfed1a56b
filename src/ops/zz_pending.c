#include "tensor/tensor_impl.h"
vkt_status vkt__matmul_backward(vkt__node *n, const vkt_tensor *g) { (void)n; (void)g; return VKT_UNSUPPORTED; }
