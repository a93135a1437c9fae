namespace RoRecomp.Actors.Protocols;

/// <summary>
/// Marker of every protocol message in this folder; bound to the RoRecomp serializer in
/// <c>Serialization/SerializationHocon.cs</c>. Payload records from Core and Training travel inside these messages.
/// </summary>
public interface IRoRecompMessage;
