import type { DType } from '../../dtype.js';

/**
 * The longest array a kernel indexes exactly. gpu.js computes indices in float32 (webasm and GL
 * alike), and the kernels split a flat index i into coordinates with floor((i + 0.5) / stride),
 * exact only while i + 0.5 is representable: i < 2^23. Beyond that, elements would be read from
 * the wrong place without any error, so longer tensors stay on the host and take the CPU path.
 */
export const MAX_DEVICE_LENGTH = 2 ** 23;

/**
 * Whether data of this dtype and length lives on the device: float32 and int32 do (as float32;
 * integers are exact below 2^24), float64 stays on the host (gpu.js computes in single precision),
 * and so do empty arrays (no texture has zero size) and arrays past MAX_DEVICE_LENGTH.
 */
export const onDevice = (dtype: DType, length: number): boolean => dtype !== 'float64' && length > 0 && length <= MAX_DEVICE_LENGTH;

/**
 * The longest loop one thread may run. llvmpipe, the rasterizer behind headlessgl, stops a shader
 * loop after 65,535 iterations without an error, so kernels whose loop would be longer (a matmul's
 * k, an index add's count) take the CPU kernel; reductions run in blocked passes instead.
 */
export const MAX_THREAD_LOOP = 65535;
