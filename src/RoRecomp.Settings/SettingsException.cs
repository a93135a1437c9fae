namespace RoRecomp.Settings;

/// <summary>A configuration error: the message says what was wrong, where (file, key) and what is allowed.</summary>
public sealed class SettingsException(string message, Exception? inner = null) : Exception(message, inner);
