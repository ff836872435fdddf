using System;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Amp
{
    /// <summary>
    /// Keeps a module in float32 inside an autocast region: its forward runs with autocast off and its input cast to
    /// float32, PyTorch's recipe for a layer that loses accuracy in low precision (<c>autocast(enabled=False)</c> around it,
    /// or <c>custom_fwd(cast_inputs=torch.float32)</c>). Its backward follows the float32 ops the forward recorded, and the
    /// gradients flow on to the layers before it. Outside an autocast region it is the wrapped module unchanged.
    /// </summary>
    /// <example>
    /// <code>
    /// var head = new Float32Module(nn.Linear(256, 1000)); // a head over many classes, kept in float32
    /// using (new Autocast(DeviceType.CPU, ScalarType.BFloat16))
    /// {
    ///     var features = backbone.forward(images);         // bfloat16
    ///     var logits = head.forward(features);             // float32
    /// }
    /// </code>
    /// </example>
    public sealed class Float32Module : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> module;

        /// <summary>Wraps <paramref name="module"/>; its parameters and buffers appear under the prefix <c>module.</c>.</summary>
        public Float32Module(nn.Module<Tensor, Tensor> module) : base(nameof(Float32Module))
        {
            this.module = module ?? throw new ArgumentNullException(nameof(module));
            RegisterComponents();
        }

        /// <summary>The wrapped module.</summary>
        public nn.Module<Tensor, Tensor> Module => module;

        /// <summary>
        /// Runs the wrapped module with autocast off on <paramref name="input"/>'s device, the input cast to float32 when it
        /// is a floating-point tensor of another type (bfloat16 or float16 from the layers before).
        /// </summary>
        public override Tensor forward(Tensor input)
        {
            if (input is null)
                throw new ArgumentNullException(nameof(input));
            if (!Autocast.IsEnabled(input.device.type))
                return module.forward(input);
            using var region = new Autocast(input.device.type, enabled: false);
            bool cast = input.is_floating_point() && input.dtype != ScalarType.Float32;
            return module.forward(cast ? input.to(ScalarType.Float32) : input);
        }

        /// <summary>Disposes the wrapped module.</summary>
        protected override void Dispose(bool disposing)
        {
            if (disposing)
                module.Dispose();
            base.Dispose(disposing);
        }
    }
}
