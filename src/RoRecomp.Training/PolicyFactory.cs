using RoRecomp.Model.Transformer;
using RoRecomp.Settings;

namespace RoRecomp.Training;

/// <summary>Builds the policy copies of a run (learner, reference, samplers, evaluator) with the run's model options.</summary>
public static class PolicyFactory
{
    /// <summary>
    /// A new policy of shape <paramref name="config"/> with <c>model.attention</c> and
    /// <c>policy-loss.activation-checkpointing</c> of <paramref name="settings"/> applied.
    /// </summary>
    public static PolicyTransformer Create(TransformerConfig config, RoRecompSettings settings) => new(config)
    {
        ScaledDotProductAttention = settings.Model.Attention == "sdpa",
        ActivationCheckpointing = settings.PolicyLoss.ActivationCheckpointing,
    };
}
