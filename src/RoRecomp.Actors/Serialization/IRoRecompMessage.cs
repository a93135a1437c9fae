namespace RoRecomp.Actors.Serialization;

/// <summary>Marker for protocol messages; bound to <see cref="RoRecompSerializer"/> in <see cref="SerializationHocon"/>.</summary>
public interface IRoRecompMessage;
