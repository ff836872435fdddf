using System;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Amp
{
    /// <summary>
    /// Autocast for a custom autograd function, the counterpart of PyTorch's <c>torch.amp.custom_fwd</c> and
    /// <c>custom_bwd</c>. Call <see cref="Forward{TResult}"/> in the function's <c>forward</c> and <see cref="Backward{TResult}"/>
    /// in its <c>backward</c>: the backward then runs in the autocast state the forward ran in (autograd calls it after the
    /// region has closed), and with a <c>castInputs</c> dtype the forward runs with autocast off and its floating-point inputs
    /// cast to that dtype (the backward then runs with autocast off too). Outside an autocast region both run as written.
    /// </summary>
    /// <example>
    /// <code>
    /// sealed class ScaledDot : torch.autograd.SingleTensorFunction&lt;ScaledDot&gt;
    /// {
    ///     public override string Name => nameof(ScaledDot);
    ///     public override Tensor forward(AutogradContext ctx, params object[] vars) =>
    ///         CustomAutocast.Forward(ctx, DeviceType.CPU, ScalarType.Float32, vars, v =>
    ///         {
    ///             var (a, b) = ((Tensor)v[0], (Tensor)v[1]);   // float32 here, whatever autocast made them
    ///             ctx.save_for_backward(new() { a, b });
    ///             return a.matmul(b);
    ///         });
    ///     public override List&lt;Tensor&gt; backward(AutogradContext ctx, Tensor grad) =>
    ///         CustomAutocast.Backward(ctx, () =>
    ///         {
    ///             var saved = ctx.get_saved_variables();
    ///             return new List&lt;Tensor&gt; { grad.matmul(saved[1].t()), saved[0].t().matmul(grad) };
    ///         });
    /// }
    /// </code>
    /// </example>
    public static class CustomAutocast
    {
        private const string DeviceKey = "Microsoft.ML.MixedPrecision.autocast.device";
        private const string EnabledKey = "Microsoft.ML.MixedPrecision.autocast.enabled";
        private const string DtypeKey = "Microsoft.ML.MixedPrecision.autocast.dtype";

        /// <summary>
        /// Runs a custom function's forward: records the autocast state of <paramref name="device"/> in
        /// <paramref name="ctx"/> for <see cref="Backward{TResult}"/>; when <paramref name="castInputs"/> is set and
        /// autocast is on, runs <paramref name="forward"/> with autocast off and every floating-point tensor in
        /// <paramref name="inputs"/> (or in a <see cref="Tensor"/> array among them) on that device cast to it.
        /// </summary>
        /// <param name="ctx">The function's autograd context.</param>
        /// <param name="device">The device whose autocast state applies (CPU or CUDA).</param>
        /// <param name="castInputs">Null: run in the caller's autocast state. A dtype (usually Float32): run with autocast off on inputs of that dtype.</param>
        /// <param name="inputs">The function's inputs as <c>forward</c> received them.</param>
        /// <param name="forward">The forward's body, given the inputs as cast.</param>
        public static TResult Forward<TResult>(autograd.AutogradContext ctx, DeviceType device, ScalarType? castInputs,
            object[] inputs, Func<object[], TResult> forward)
        {
            if (ctx is null)
                throw new ArgumentNullException(nameof(ctx));
            if (inputs is null)
                throw new ArgumentNullException(nameof(inputs));
            if (forward is null)
                throw new ArgumentNullException(nameof(forward));
            bool enabled = Autocast.IsEnabled(device);
            ctx.save_data(DeviceKey, device);
            ctx.save_data(DtypeKey, Autocast.GetDtype(device));
            ctx.save_data(EnabledKey, enabled && castInputs is null);
            if (castInputs is not { } dtype || !enabled)
                return forward(inputs);
            using var region = new Autocast(device, enabled: false);
            return forward(inputs.Select(input => Cast(input, device, dtype)).ToArray());
        }

        /// <summary>Runs a custom function's backward in the autocast state its <see cref="Forward{TResult}"/> recorded.</summary>
        /// <param name="ctx">The function's autograd context, as its forward received it.</param>
        /// <param name="backward">The backward's body.</param>
        public static TResult Backward<TResult>(autograd.AutogradContext ctx, Func<TResult> backward)
        {
            if (ctx is null)
                throw new ArgumentNullException(nameof(ctx));
            if (backward is null)
                throw new ArgumentNullException(nameof(backward));
            if (ctx.get_data(DeviceKey) is not DeviceType device)
                throw new InvalidOperationException("CustomAutocast.Backward needs the context of a forward that called CustomAutocast.Forward.");
            bool enabled = (bool)ctx.get_data(EnabledKey);
            var dtype = (ScalarType)ctx.get_data(DtypeKey);
            using var region = new Autocast(device, enabled ? dtype : null, enabled);
            return backward();
        }

        private static object Cast(object input, DeviceType device, ScalarType dtype) => input switch
        {
            Tensor t => CastTensor(t, device, dtype),
            Tensor[] ts => ts.Select(t => CastTensor(t, device, dtype)).ToArray(),
            _ => input,
        };

        private static Tensor CastTensor(Tensor tensor, DeviceType device, ScalarType dtype) =>
            tensor.is_floating_point() && tensor.device.type == device && tensor.dtype != dtype ? tensor.to(dtype) : tensor;
    }
}
