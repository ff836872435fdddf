using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.MixedPrecision.Native;
using TorchSharp;
using static TorchSharp.torch;
using Optimizer = TorchSharp.torch.optim.Optimizer;

namespace Microsoft.ML.MixedPrecision.Amp
{
    /// <summary>
    /// Dynamic loss scaling with <c>torch.amp.GradScaler</c> semantics. Float16 gradients underflow to zero for small
    /// values; multiplying the loss by a large scale keeps them representable. Gradients are unscaled before the optimizer
    /// steps; a step whose gradients hold inf/NaN is skipped and the scale backs off; after <c>growthInterval</c> clean
    /// steps the scale grows again.
    /// <code>
    /// using var scaler = new GradScaler();
    /// // each step:
    /// scaler.Scale(loss).backward();
    /// scaler.Unscale(optimizer);          // optional: only to clip true gradients
    /// clip_grad_norm_(model.parameters(), 1.0);
    /// bool stepped = scaler.Step(optimizer);
    /// scaler.Update();
    /// if (stepped) scheduler.step();      // never advance the LR schedule on a skipped step
    /// </code>
    /// A disabled scaler is a pass-through, so one loop serves float32, bfloat16 and float16 training.
    /// Costs one host synchronization per step (reading whether any gradient overflowed).
    /// </summary>
    public sealed class GradScaler : IDisposable
    {
        /// <summary>Per-optimizer progress through one iteration, as in PyTorch's OptState.</summary>
        private enum OptimizerStage { Ready, Unscaled, Stepped }

        private sealed class OptimizerState
        {
            public OptimizerStage Stage = OptimizerStage.Ready;
            public readonly List<Tensor> FoundInfPerDevice = new List<Tensor>();
        }

        private readonly double _initScale;
        private readonly Dictionary<Optimizer, OptimizerState> _optimizerStates =
            new Dictionary<Optimizer, OptimizerState>(ReferenceEqualityComparer.Instance);
        private Tensor? _scale;          // float32 [1], lives across steps
        private Tensor? _growthTracker;  // int32 [1]: consecutive clean steps
        private bool _disposed;

        /// <param name="initScale">Initial scale (PyTorch default 2^16).</param>
        /// <param name="growthFactor">Scale multiplier after <paramref name="growthInterval"/> clean steps (&gt; 1).</param>
        /// <param name="backoffFactor">Scale multiplier on a step with inf/NaN gradients (between 0 and 1).</param>
        /// <param name="growthInterval">Clean steps between growths.</param>
        /// <param name="enabled">False makes every method a pass-through (plain optimizer.step()).</param>
        public GradScaler(double initScale = 65536.0, double growthFactor = 2.0, double backoffFactor = 0.5,
            int growthInterval = 2000, bool enabled = true)
        {
            if (!(initScale > 0) || double.IsInfinity(initScale))
                throw new ArgumentOutOfRangeException(nameof(initScale), initScale, "The initial loss scale must be a positive finite number.");
            if (!(growthFactor > 1.0))
                throw new ArgumentOutOfRangeException(nameof(growthFactor), growthFactor, "The growth factor must be greater than 1.");
            if (!(backoffFactor > 0.0 && backoffFactor < 1.0))
                throw new ArgumentOutOfRangeException(nameof(backoffFactor), backoffFactor, "The backoff factor must be between 0 and 1.");
            if (growthInterval <= 0)
                throw new ArgumentOutOfRangeException(nameof(growthInterval), growthInterval, "The growth interval must be positive.");
            _initScale = initScale;
            GrowthFactor = growthFactor;
            BackoffFactor = backoffFactor;
            GrowthInterval = growthInterval;
            IsEnabled = enabled;
        }

        /// <summary>False for a disabled scaler, which passes everything through (the bf16 and float32 recipe).</summary>
        public bool IsEnabled { get; }
        /// <summary>Factor the scale grows by after <see cref="GrowthInterval"/> steps without overflow (PyTorch's default 2).</summary>
        public double GrowthFactor { get; private set; }
        /// <summary>Factor the scale shrinks by after a step whose gradients overflowed (PyTorch's default 0.5).</summary>
        public double BackoffFactor { get; private set; }
        /// <summary>Steps without overflow between two growths of the scale (PyTorch's default 2000).</summary>
        public int GrowthInterval { get; private set; }

        /// <summary>Optimizer steps skipped because their gradients held inf or NaN, since construction or the last load.</summary>
        public long SkippedSteps { get; private set; }

        /// <summary>Whether the latest <see cref="Step"/> skipped the optimizer (step an LR scheduler only when false).</summary>
        public bool LastStepSkipped { get; private set; }

        /// <summary>True when the libtorch fused kernels do the unscale/inf check and scale update (else plain tensor ops).</summary>
        public bool UsesFusedKernels => PreferFusedKernels && LibTorchAmpNative.HasFusedAmpKernels;

        /// <summary>Tests turn this off to check the tensor-op fallback against the fused kernels.</summary>
        internal bool PreferFusedKernels { get; set; } = true;

        /// <summary>Multiplies <paramref name="loss"/> by the current scale. Disabled: returns <paramref name="loss"/> itself.</summary>
        public Tensor Scale(Tensor loss)
        {
            ThrowIfDisposed();
            if (loss is null)
                throw new ArgumentNullException(nameof(loss));
            if (!IsEnabled)
                return loss;
            EnsureScaleTensors(loss.device);
            using var scale = _scale.to(loss.device);
            return loss * scale;
        }

        /// <summary>
        /// Divides the gradients of <paramref name="optimizer"/>'s parameters by the scale, in place, and records whether any
        /// is inf/NaN. Call it before clipping; <see cref="Step"/> then does not unscale again.
        /// </summary>
        public void Unscale(Optimizer optimizer)
        {
            ThrowIfDisposed();
            if (!IsEnabled)
                return;
            var state = StateOf(optimizer);
            if (state.Stage == OptimizerStage.Unscaled)
                throw new InvalidOperationException("Unscale() has already been called on this optimizer since the last Update().");
            if (state.Stage == OptimizerStage.Stepped)
                throw new InvalidOperationException("Unscale() is being called after Step().");
            if (_scale is null)
                throw new InvalidOperationException("Unscale() was called before Scale(loss): scale the loss before backward().");

            using (var scope = NewDisposeScope())
            {
                // Like PyTorch: the reciprocal in double precision, then float.
                var invScale = _scale.to(ScalarType.Float64).reciprocal().to(ScalarType.Float32);
                UnscaleGradients(optimizer, invScale, state.FoundInfPerDevice);
            }
            state.Stage = OptimizerStage.Unscaled;
        }

        /// <summary>
        /// Steps <paramref name="optimizer"/> unless its unscaled gradients hold inf/NaN. Returns whether it stepped.
        /// </summary>
        public bool Step(Optimizer optimizer)
        {
            ThrowIfDisposed();
            if (optimizer is null)
                throw new ArgumentNullException(nameof(optimizer));
            if (!IsEnabled)
            {
                optimizer.step();
                LastStepSkipped = false;
                return true;
            }
            var state = StateOf(optimizer);
            if (state.Stage == OptimizerStage.Stepped)
                throw new InvalidOperationException("Step() has already been called since the last Update().");
            if (state.Stage == OptimizerStage.Ready)
                Unscale(optimizer);
            if (state.FoundInfPerDevice.Count == 0)
                throw new InvalidOperationException("No inf checks were recorded for this optimizer: none of its parameters has a gradient.");

            // The one host synchronization of the step.
            float foundInf = state.FoundInfPerDevice.Sum(t => t.item<float>());
            bool stepped = foundInf == 0f;
            if (stepped)
                optimizer.step();
            else
                SkippedSteps++;
            LastStepSkipped = !stepped;
            state.Stage = OptimizerStage.Stepped;
            return stepped;
        }

        /// <summary>
        /// Ends the iteration: backs the scale off if any optimizer saw inf/NaN, else counts a clean step and grows the scale
        /// every <see cref="GrowthInterval"/> clean steps. <paramref name="newScale"/> sets the scale explicitly instead.
        /// </summary>
        public void Update(double? newScale = null)
        {
            ThrowIfDisposed();
            if (!IsEnabled)
                return;
            if (_scale is null)
                throw new InvalidOperationException("Update() was called before Scale(loss).");
            try
            {
                if (newScale.HasValue)
                {
                    if (!(newScale.Value > 0) || double.IsInfinity(newScale.Value))
                        throw new ArgumentOutOfRangeException(nameof(newScale), newScale, "The new scale must be a positive finite number.");
                    using Scalar value = newScale.Value;
                    _scale.fill_(value);
                    return;
                }
                var foundInfs = _optimizerStates.Values.SelectMany(s => s.FoundInfPerDevice).ToList();
                if (foundInfs.Count == 0)
                    throw new InvalidOperationException("No inf checks were recorded prior to Update(): call Step() (or Unscale()) first.");
                using var scope = NewDisposeScope();
                var combined = foundInfs[0].to(_scale!.device).clone();
                for (int i = 1; i < foundInfs.Count; i++)
                    combined.add_(foundInfs[i].to(_scale.device));
                if (UsesFusedKernels)
                    LibTorchAmpNative.UpdateScale(_scale, _growthTracker!, combined, GrowthFactor, BackoffFactor, GrowthInterval);
                else
                    UpdateScaleOnHost(combined.item<float>() > 0f);
            }
            finally
            {
                ResetOptimizerStates();
            }
        }

        /// <summary>The current scale (a host synchronization). Disabled: 1.0. Before the first Scale(): the initial scale.</summary>
        public double GetScale()
        {
            ThrowIfDisposed();
            if (!IsEnabled)
                return 1.0;
            return _scale is null ? _initScale : _scale.item<float>();
        }

        /// <summary>The number of consecutive clean steps counted towards the next growth.</summary>
        public int GetGrowthTracker() => _growthTracker is null ? 0 : _growthTracker.item<int>();

        /// <summary>The checkpointable state (PyTorch's state_dict); <see cref="GradScalerState.Empty"/> when disabled.</summary>
        public GradScalerState GetState()
        {
            ThrowIfDisposed();
            if (!IsEnabled)
                return GradScalerState.Empty;
            return new GradScalerState
            {
                Scale = GetScale(),
                GrowthFactor = GrowthFactor,
                BackoffFactor = BackoffFactor,
                GrowthInterval = GrowthInterval,
                GrowthTracker = GetGrowthTracker(),
                SkippedSteps = SkippedSteps,
            };
        }

        /// <summary>
        /// Restores a state saved by <see cref="GetState"/> (e.g. when resuming from a checkpoint), after checking every value.
        /// A disabled scaler ignores it, as PyTorch's does; an enabled one refuses the empty state of a disabled one.
        /// </summary>
        public void LoadState(GradScalerState state)
        {
            ThrowIfDisposed();
            if (state is null)
                throw new ArgumentNullException(nameof(state));
            if (!IsEnabled)
                return;
            if (!state.Enabled)
                throw new ArgumentException("The saved GradScaler state is empty: it was saved from a disabled scaler (a bfloat16 or float32 run), " +
                                            "so it cannot resume this float16 run's loss scaling.", nameof(state));
            Check(state.Scale > 0 && !double.IsInfinity(state.Scale), $"scale {state.Scale} is not a positive finite number");
            Check(state.GrowthFactor > 1 && !double.IsInfinity(state.GrowthFactor), $"growth factor {state.GrowthFactor} is not a finite number above 1");
            Check(state.BackoffFactor > 0 && state.BackoffFactor < 1, $"backoff factor {state.BackoffFactor} is not in (0, 1)");
            Check(state.GrowthInterval > 0, $"growth interval {state.GrowthInterval} is not positive");
            Check(state.GrowthTracker >= 0 && state.GrowthTracker < state.GrowthInterval,
                $"growth tracker {state.GrowthTracker} is not in [0, growth interval {state.GrowthInterval})");
            Check(state.SkippedSteps >= 0, $"skipped-step count {state.SkippedSteps} is negative");
            GrowthFactor = state.GrowthFactor;
            BackoffFactor = state.BackoffFactor;
            GrowthInterval = state.GrowthInterval;
            SkippedSteps = state.SkippedSteps;
            EnsureScaleTensors(_scale?.device ?? CPU);
            StoreScale(state.Scale, state.GrowthTracker);
            ResetOptimizerStates();
        }

        private static void Check(bool valid, string what)
        {
            if (!valid)
                throw new ArgumentException($"The saved GradScaler state is invalid: its {what}.", "state");
        }

        /// <summary>Frees the scale and growth-tracker tensors; the scaler cannot be used afterwards.</summary>
        public void Dispose()
        {
            if (_disposed)
                return;
            _disposed = true;
            ResetOptimizerStates();
            _scale?.Dispose();
            _growthTracker?.Dispose();
        }

        private void UnscaleGradients(Optimizer optimizer, Tensor invScale, List<Tensor> foundInfPerDevice)
        {
            // Grouped by device and dtype: the fused kernel wants one device and dtype per call.
            var groups = new Dictionary<(DeviceType, int, ScalarType), List<Tensor>>();
            foreach (var parameter in optimizer.parameters())
            {
                var grad = parameter.grad;
                if (grad is null)
                    continue;
                if (grad.dtype == ScalarType.Float16)
                    throw new InvalidOperationException(
                        "Attempting to unscale Float16 gradients: keep the parameters (master weights) in Float32 and let autocast lower the compute.");
                if (grad.dtype != ScalarType.Float32 && grad.dtype != ScalarType.Float64 && grad.dtype != ScalarType.BFloat16)
                    continue;
                if (grad.is_sparse)
                    throw new NotSupportedException("GradScaler does not support sparse gradients.");
                var key = (grad.device_type, grad.device_index, grad.dtype);
                if (!groups.TryGetValue(key, out var list))
                    groups[key] = list = new List<Tensor>();
                list.Add(grad);
            }

            var foundInfByDevice = new Dictionary<(DeviceType, int), Tensor>();
            foreach (var group in groups)
            {
                var deviceKey = (group.Key.Item1, group.Key.Item2);
                if (!foundInfByDevice.TryGetValue(deviceKey, out var foundInf))
                {
                    foundInf = zeros(1, ScalarType.Float32, device: group.Value[0].device).DetachFromDisposeScope();
                    foundInfByDevice[deviceKey] = foundInf;
                    foundInfPerDevice.Add(foundInf);
                }
                var deviceInvScale = invScale.to(group.Value[0].device);
                if (UsesFusedKernels)
                {
                    LibTorchAmpNative.NonFiniteCheckAndUnscale(group.Value.ToArray(), foundInf, deviceInvScale);
                }
                else
                {
                    foreach (var grad in group.Value)
                    {
                        foundInf.add_(grad.isfinite().logical_not().any().to(ScalarType.Float32));
                        grad.mul_(deviceInvScale.to(grad.dtype));
                    }
                    using Scalar one = 1f;
                    foundInf.clamp_(max: one);
                }
            }
        }

        private void UpdateScaleOnHost(bool foundInf)
        {
            double scale = _scale!.item<float>();
            int tracker = _growthTracker!.item<int>();
            if (foundInf)
            {
                scale *= BackoffFactor;
                tracker = 0;
            }
            else if (++tracker == GrowthInterval)
            {
                double grown = scale * GrowthFactor;
                if (!double.IsInfinity((float)grown))
                    scale = grown;
                tracker = 0;
            }
            StoreScale(scale, tracker);
        }

        private void StoreScale(double scale, int tracker)
        {
            // Scalars held for the calls: TorchSharp does not keep an implicit-conversion temporary alive in them.
            using Scalar scaleValue = scale, trackerValue = tracker;
            _scale!.fill_(scaleValue);
            _growthTracker!.fill_(trackerValue);
        }

        [System.Diagnostics.CodeAnalysis.MemberNotNull(nameof(_scale), nameof(_growthTracker))]
        private void EnsureScaleTensors(Device device)
        {
            if (_scale is not null && _growthTracker is not null)
                return;
            // Detached from any DisposeScope the caller has open: these live as long as the scaler.
            using Scalar initScale = _initScale;
            _scale = full(1, initScale, ScalarType.Float32, device: device).DetachFromDisposeScope();
            _growthTracker = zeros(1, ScalarType.Int32, device: device).DetachFromDisposeScope();
        }

        private OptimizerState StateOf(Optimizer optimizer)
        {
            if (optimizer is null)
                throw new ArgumentNullException(nameof(optimizer));
            if (!_optimizerStates.TryGetValue(optimizer, out var state))
                _optimizerStates[optimizer] = state = new OptimizerState();
            return state;
        }

        private void ResetOptimizerStates()
        {
            foreach (var state in _optimizerStates.Values)
                foreach (var t in state.FoundInfPerDevice)
                    t.Dispose();
            _optimizerStates.Clear();
        }

        private void ThrowIfDisposed()
        {
            if (_disposed)
                throw new ObjectDisposedException(nameof(GradScaler));
        }
    }
}
