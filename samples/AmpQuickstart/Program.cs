// samples/AmpQuickstart: the AMP core on plain TorchSharp, PyTorch's AMP recipe in C#. The README shows this file.
using Microsoft.ML.MixedPrecision.Amp;
using TorchSharp;
using static TorchSharp.torch;

TorchRuntime.EnsureAvailable(); // a clear message if libstdc++ is too old for TorchSharp
torch.manual_seed(0);

// Toy data: 3 Gaussian blobs in 64 dimensions.
var centers = randn(3, 64) * 2;
var labels = randint(0, 3, new long[] { 512 });
var features = centers.index_select(0, labels) + randn(512, 64);

var model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 3));
var optimizer = optim.AdamW(model.parameters(), lr: 1e-3);

// bf16 on a CPU with native bf16 (AVX512-BF16/AMX); float16 + loss scaling is the CUDA recipe.
var dtype = ScalarType.BFloat16;
using var scaler = new GradScaler(enabled: dtype == ScalarType.Float16); // bf16 needs no loss scaling

for (int step = 1; step <= 100; step++)
{
    using var scope = NewDisposeScope();
    optimizer.zero_grad();
    Tensor logits, loss;
    using (new Autocast(DeviceType.CPU, dtype))
    {
        logits = model.forward(features);                    // Linear runs in bfloat16
        loss = nn.functional.cross_entropy(logits, labels);  // losses run in float32
    }
    scaler.Scale(loss).backward();                           // backward outside the region; float32 weight gradients
    scaler.Unscale(optimizer);                               // true gradient sizes before clipping
    nn.utils.clip_grad_norm_(model.parameters(), 5.0);
    scaler.Step(optimizer);                                  // skipped when a gradient is inf/NaN
    scaler.Update();
    if (step == 1 || step % 25 == 0)
        Console.WriteLine($"step {step,3}: loss {loss.item<float>():F4} (logits {logits.dtype}, loss {loss.dtype}, scale {scaler.GetScale()})");
}
Console.WriteLine($"fast bf16 on this CPU: {AmpCapabilities.CpuHasFastBFloat16}; skipped steps: {scaler.SkippedSteps}");
