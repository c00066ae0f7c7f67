using System.Globalization;
using Mesh.Client;
using Mesh.Registry.Store;
using Microsoft.Extensions.Options;

namespace Mesh.Registry;

/// <summary>Checks the <c>MeshRegistry</c> section at start, reporting every error with its path.</summary>
internal sealed class RegistryOptionsValidator : IValidateOptions<RegistryOptions>
{
    public ValidateOptionsResult Validate(string? name, RegistryOptions options)
    {
        const string root = RegistryOptions.SectionName;
        var errors = new List<string>();
        if (!RegistryStoreNames.All.Contains(options.Store, StringComparer.OrdinalIgnoreCase))
        {
            errors.Add($"{root}:Store: '{options.Store}' is not a store this registry has; use one of: {string.Join(", ", RegistryStoreNames.All)}");
        }

        if (string.IsNullOrWhiteSpace(options.DataPath))
        {
            errors.Add($"{root}:DataPath: required (the default lies in the user's local data folder, and this user has none)");
        }

        if (options.AdminToken is { Length: > 0 } admin && string.IsNullOrWhiteSpace(admin))
        {
            errors.Add($"{root}:AdminToken: must not be blank");
        }

        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!string.IsNullOrEmpty(options.AdminToken))
        {
            seen[options.AdminToken] = $"{root}:AdminToken";
        }

        foreach (var (service, token) in options.JoinTokens)
        {
            var path = $"{root}:JoinTokens:{service}";
            if (!MeshPolicyValidation.IsValidName(service))
            {
                errors.Add($"{path}: '{service}' is not a valid service name (letters, digits, '-', '_' and '.', at most 63 characters)");
            }

            if (string.IsNullOrWhiteSpace(token))
            {
                errors.Add($"{path}: the token must not be empty");
            }
            else if (!seen.TryAdd(token, path))
            {
                // Never name the token itself.
                errors.Add($"{path}: the same token as {seen[token]}; every token must be distinct");
            }
        }

        if (double.IsNaN(options.MassExpiryThreshold) || options.MassExpiryThreshold is <= 0 or > 1)
        {
            errors.Add($"{root}:MassExpiryThreshold: {options.MassExpiryThreshold.ToString(CultureInfo.InvariantCulture)} must be greater than 0 and at most 1");
        }

        if (options.MassExpiryMaxHold <= TimeSpan.Zero || options.MassExpiryMaxHold > TimeSpan.FromDays(7))
        {
            errors.Add($"{root}:MassExpiryMaxHold: {options.MassExpiryMaxHold} must be between 00:00:00 (exclusive) and 7.00:00:00");
        }

        if (options.MaxInstancesPerService is < 1 or > 1_000_000)
        {
            errors.Add($"{root}:MaxInstancesPerService: {options.MaxInstancesPerService} must be from 1 to 1000000");
        }

        if (options.MaxWatchesPerCaller is < 1 or > 1_000_000)
        {
            errors.Add($"{root}:MaxWatchesPerCaller: {options.MaxWatchesPerCaller} must be from 1 to 1000000");
        }

        if (options.MaxWatchWait <= TimeSpan.Zero || options.MaxWatchWait > TimeSpan.FromHours(1))
        {
            errors.Add($"{root}:MaxWatchWait: {options.MaxWatchWait} must be between 00:00:00 (exclusive) and 01:00:00");
        }

        if (options.DefaultWatchWait <= TimeSpan.Zero || options.DefaultWatchWait > options.MaxWatchWait)
        {
            errors.Add($"{root}:DefaultWatchWait: {options.DefaultWatchWait} must be positive and at most MaxWatchWait");
        }

        if (string.IsNullOrWhiteSpace(options.TrustDomain) || Uri.CheckHostName(options.TrustDomain) != UriHostNameType.Dns)
        {
            errors.Add($"{root}:TrustDomain: '{options.TrustDomain}' must be a DNS name such as mesh.local");
        }

        for (var i = 0; i < options.ServerNames.Count; i++)
        {
            var serverName = options.ServerNames[i];
            if (!System.Net.IPAddress.TryParse(serverName, out _) && Uri.CheckHostName(serverName) != UriHostNameType.Dns)
            {
                errors.Add($"{root}:ServerNames:{i}: '{serverName}' is neither a DNS name nor an IP address");
            }
        }

        if (options.CertificateLifetime < TimeSpan.FromMinutes(1) || options.CertificateLifetime > TimeSpan.FromDays(30))
        {
            errors.Add($"{root}:CertificateLifetime: {options.CertificateLifetime} must be between 00:01:00 and 30.00:00:00");
        }

        if (options.CaPath is { } caPath && string.IsNullOrWhiteSpace(caPath))
        {
            errors.Add($"{root}:CaPath: must not be blank");
        }

        if (options.CaReloadInterval < TimeSpan.FromSeconds(1) || options.CaReloadInterval > TimeSpan.FromHours(1))
        {
            errors.Add($"{root}:CaReloadInterval: {options.CaReloadInterval} must be between 00:00:01 and 01:00:00");
        }

        if (options.CaLockTimeout < TimeSpan.FromSeconds(1) || options.CaLockTimeout > TimeSpan.FromMinutes(10))
        {
            errors.Add($"{root}:CaLockTimeout: {options.CaLockTimeout} must be between 00:00:01 and 00:10:00");
        }

        if (options.FailedAuthLimit is < 0 or > 1_000_000)
        {
            errors.Add($"{root}:FailedAuthLimit: {options.FailedAuthLimit} must be from 0 (no limit) to 1000000");
        }

        if (options.FailedAuthWindow < TimeSpan.FromSeconds(1) || options.FailedAuthWindow > TimeSpan.FromHours(1))
        {
            errors.Add($"{root}:FailedAuthWindow: {options.FailedAuthWindow} must be between 00:00:01 and 01:00:00");
        }

        if (string.Equals(options.Store, RegistryStoreNames.Etcd, StringComparison.OrdinalIgnoreCase))
        {
            ValidateEtcd(options, errors);
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void ValidateEtcd(RegistryOptions options, List<string> errors)
    {
        const string root = RegistryOptions.SectionName + ":Etcd";
        var etcd = options.Etcd;
        if (etcd.Endpoints.Count == 0)
        {
            errors.Add($"{root}:Endpoints: required when {RegistryOptions.SectionName}:Store is Etcd (the members' client URLs, such as http://10.0.0.1:2379)");
        }

        // Only the endpoints that are URLs count towards a mix of schemes: one that is not is its own error.
        var schemes = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < etcd.Endpoints.Count; i++)
        {
            if (!Uri.TryCreate(etcd.Endpoints[i], UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.IsDefaultPort ||
                uri.AbsolutePath != "/" || !string.IsNullOrEmpty(uri.Query))
            {
                errors.Add($"{root}:Endpoints:{i}: '{etcd.Endpoints[i]}' must be http://host:port or https://host:port");
            }
            else
            {
                schemes.Add(uri.Scheme);
            }
        }

        if (schemes.Count > 1)
        {
            errors.Add($"{root}:Endpoints: mixes http and https; a cluster speaks one");
        }

        if (string.IsNullOrEmpty(etcd.Prefix) || !etcd.Prefix.StartsWith('/') || !etcd.Prefix.EndsWith('/') || etcd.Prefix.Contains("//", StringComparison.Ordinal))
        {
            errors.Add($"{root}:Prefix: '{etcd.Prefix}' must start and end with '/', such as /meshlib/");
        }

        if (string.IsNullOrEmpty(etcd.Username) != string.IsNullOrEmpty(etcd.Password))
        {
            errors.Add($"{root}:Username: Username and Password go together");
        }

        if (string.IsNullOrEmpty(etcd.ClientCertificateFile) != string.IsNullOrEmpty(etcd.ClientKeyFile))
        {
            errors.Add($"{root}:ClientCertificateFile: ClientCertificateFile and ClientKeyFile go together");
        }

        foreach (var (name, file) in new[] { ("TrustedCaFile", etcd.TrustedCaFile), ("ClientCertificateFile", etcd.ClientCertificateFile), ("ClientKeyFile", etcd.ClientKeyFile) })
        {
            if (!string.IsNullOrEmpty(file) && !File.Exists(file))
            {
                errors.Add($"{root}:{name}: '{file}' does not exist");
            }

            // TLS follows the endpoints' scheme: files with http:// endpoints would be silently unused.
            if (!string.IsNullOrEmpty(file) && schemes.Count == 1 && schemes.Contains("http"))
            {
                errors.Add($"{root}:{name}: set, but the endpoints are http://; TLS files are used with https:// endpoints only");
            }
        }

        if (etcd.RequestTimeout < TimeSpan.FromMilliseconds(100) || etcd.RequestTimeout > TimeSpan.FromMinutes(1))
        {
            errors.Add($"{root}:RequestTimeout: {etcd.RequestTimeout} must be between 00:00:00.1 and 00:01:00");
        }

        if (string.IsNullOrWhiteSpace(options.CaPath))
        {
            errors.Add($"{RegistryOptions.SectionName}:CaPath: required with the etcd store: the replicas share the CA through this folder (the CA's keys never go into etcd)");
        }
    }
}
