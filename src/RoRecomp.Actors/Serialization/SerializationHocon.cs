using Akka.Configuration;

namespace RoRecomp.Actors.Serialization;

/// <summary>HOCON that registers <see cref="RoRecompSerializer"/> and binds the protocol messages, <c>Response</c> and Core's replay-buffer commands, events, replies and snapshot to it.</summary>
public static class SerializationHocon
{
    /// <summary>The serializer registration and bindings.</summary>
    public static Config Config { get; } = ConfigurationFactory.ParseString("""
        akka.actor {
          serializers {
            rorecomp = "RoRecomp.Actors.Serialization.RoRecompSerializer, RoRecomp.Actors"
          }
          serialization-bindings {
            "RoRecomp.Actors.Protocols.IRoRecompMessage, RoRecomp.Actors" = rorecomp
            "RoRecomp.Core.Rollouts.Response, RoRecomp.Core" = rorecomp
            "RoRecomp.Core.Replay.IReplayBufferCommand, RoRecomp.Core" = rorecomp
            "RoRecomp.Core.Replay.IReplayBufferEvent, RoRecomp.Core" = rorecomp
            "RoRecomp.Core.Replay.IReplayBufferReply, RoRecomp.Core" = rorecomp
            "RoRecomp.Core.Replay.ReplayBufferSnapshot, RoRecomp.Core" = rorecomp
            "RoRecomp.Core.Coordination.IRunEvent, RoRecomp.Core" = rorecomp
          }
        }
        """);
}
