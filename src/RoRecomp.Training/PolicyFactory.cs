using RoRecomp.Model.Runtime;
using RoRecomp.Model.Transformer;
using RoRecomp.Settings;
using TorchSharp;

namespace RoRecomp.Training;

/// <summary>Which copy of the policy a model is: the learner's (and its reference) or one that only samples.</summary>
public enum PolicyCopy
{
    /// <summary>The learner's policy or its KL reference: fp32 master weights whatever <c>model.dtype</c> says.</summary>
    Learner,

    /// <summary>A sampler's or the evaluator's copy: in <c>model.dtype</c> (bf16 halves its memory and weight reads).</summary>
    Sampler,
}

/// <summary>
/// Builds the policy copies of a run (learner, reference, samplers, evaluator) with the run's model options: the one
/// place a model is put on <c>model.device</c> and in <c>model.dtype</c>.
/// </summary>
public static class PolicyFactory
{
    /// <summary>
    /// A new policy of shape <paramref name="config"/> with <c>model.attention</c> and
    /// <c>policy-loss.activation-checkpointing</c> of <paramref name="settings"/> applied, on <c>model.device</c>
    /// (<see cref="Device"/>); a <see cref="PolicyCopy.Sampler"/> copy in bf16 when <c>model.dtype = bf16</c> (weights
    /// loaded into it later are converted; its logits are sampled in fp32).
    /// </summary>
    public static PolicyTransformer Create(TransformerConfig config, RoRecompSettings settings, PolicyCopy copy = PolicyCopy.Learner)
    {
        var device = Device(settings).Device;
        var model = new PolicyTransformer(config)
        {
            ScaledDotProductAttention = settings.Model.Attention == "sdpa",
            ActivationCheckpointing = settings.PolicyLoss.ActivationCheckpointing,
        };
        if (device.type != DeviceType.CPU) model.to(device);
        if (copy == PolicyCopy.Sampler && settings.Model.Dtype == "bf16") model.to(torch.ScalarType.BFloat16);
        return model;
    }

    /// <summary>
    /// The device of <c>model.device</c> (<see cref="DeviceSelector"/>, strict): <c>auto</c> takes CUDA when there is
    /// one, else the CPU; an explicit <c>cuda</c> where there is none is a <see cref="SettingsException"/> naming the key.
    /// </summary>
    public static DeviceChoice Device(RoRecompSettings settings, bool? cudaAvailable = null)
    {
        try
        {
            return DeviceSelector.Select(settings.Model.Device, strict: true, cudaAvailable);
        }
        catch (ArgumentException e)
        {
            throw new SettingsException(e.Message, e);
        }
    }
}
