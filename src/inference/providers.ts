import type { Config, ProviderName } from '../config/schema.js';

/**
 * The providers to try, in order. A single GPU provider falls back to CPU only when
 * model.fallbackToCpu says so; a list is taken as written.
 */
export function providerList(model: Pick<Config['model'], 'executionProvider' | 'fallbackToCpu'>): ProviderName[] {
  const p = model.executionProvider;
  if (Array.isArray(p)) return [...new Set(p)];
  return p !== 'cpu' && model.fallbackToCpu ? [p, 'cpu'] : [p];
}

/**
 * onnxruntime-node's `executionProviders` entry for a provider. Only cuda takes a device index:
 * the WebGPU provider's `deviceId` names a WebGPU context, not a GPU, and the node binding
 * refuses it ("unrecognized option"); Dawn picks the adapter itself.
 */
export function providerOption(provider: ProviderName, deviceId: number): string | { name: string; deviceId: number } {
  return provider === 'cuda' ? { name: 'cuda', deviceId } : provider;
}

/**
 * What a host needs for each GPU provider: appended to onnxruntime's own error, whose text
 * ("Failed to load shared library", "No supported adapters") does not say what to install.
 */
const needs: Partial<Record<ProviderName, string>> = {
  cuda: 'cuda needs libonnxruntime_providers_cuda.so in onnxruntime-node (install with ONNXRUNTIME_NODE_INSTALL=cuda12 on a host with internet), CUDA 12.x and cuDNN 9.x libraries on the library path and the NVIDIA driver; see docs/gpu.md',
  webgpu: 'webgpu needs the Vulkan loader (libvulkan1) and the GPU vendor\'s Vulkan driver, and the service must see /dev/dri or /dev/nvidia* (systemd: PrivateDevices=false); see docs/gpu.md',
};

/**
 * One line saying why a provider could not start and what to install. onnxruntime's failed
 * checks read "<source file>:<line> <function> <condition> was false. <message>": only the
 * message is kept.
 */
export function providerFailureReason(provider: ProviderName, message: string): string {
  const first = message.split('\n')[0]!.replace(/^\S+\.(?:cc|cpp|h):\d+ .*? was false\.\s*/, '').trim().slice(0, 300);
  const need = needs[provider];
  return need ? `${first} (${need})` : first;
}
