namespace Mesh.Registry.Ca;

/// <summary>
/// Prints the active root's fingerprint and certificate file at start, the two ways clients pin the registry
/// (<c>Mesh:Registry:CaFingerprint</c>, <c>Mesh:Registry:CaFile</c>). <c>GET /v1/ca/roots</c> (admin) lists them again.
/// </summary>
internal sealed partial class CaFingerprintAnnouncer(CertificateAuthority ca, RegistryConsole console, ILogger<CaFingerprintAnnouncer> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var fingerprint = ca.ActiveRootFingerprint;
        var file = ca.ActiveRootFile;
        LogFingerprint(logger, fingerprint, file);
        await console.Out.WriteLineAsync($"MeshRegistry: CA fingerprint: {fingerprint} (root certificate: {file})");
        await console.Out.FlushAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(111, LogLevel.Information, "Mesh CA: fingerprint {Fingerprint}, root certificate {File}; clients pin it with Mesh:Registry:CaFingerprint or Mesh:Registry:CaFile")]
    private static partial void LogFingerprint(ILogger logger, string fingerprint, string file);
}
