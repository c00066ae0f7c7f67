using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Primitives;

namespace Mesh.Client.Configuration;

/// <summary>
/// Settings files that failed to load on their last reload. A file provider that cannot parse its file (a save caught
/// half-way, a syntax error) drops everything the file held and raises no change; its exception ends on a thread-pool
/// thread. The next change of any other source would then hand the mesh a configuration without that file, which
/// validates and would replace the good one. While a file is broken, the mesh rejects reloads instead.
/// </summary>
internal sealed class ConfigurationFileFailures : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<IConfigurationProvider, (IChangeToken Loaded, string Error)> _failures = [];
    private CancellationTokenSource _failed = new();

    public ConfigurationFileFailures(IConfiguration? configuration)
    {
        if (configuration is not IConfigurationRoot root)
        {
            return;
        }

        foreach (var provider in root.Providers.OfType<FileConfigurationProvider>())
        {
            var previous = provider.Source.OnLoadException;
            provider.Source.OnLoadException = context =>
            {
                previous?.Invoke(context);
                if (!context.Ignore)
                {
                    OnFailed(provider, context.Exception);
                }
            };
        }
    }

    /// <summary>Fires when a file fails to load.</summary>
    public IChangeToken GetChangeToken()
    {
        lock (_lock)
        {
            return new CancellationChangeToken(_failed.Token);
        }
    }

    /// <summary>One error per file whose last load failed, naming the file.</summary>
    public List<string> Errors()
    {
        var errors = new List<string>();
        lock (_lock)
        {
            foreach (var (provider, (loaded, error)) in _failures.ToList())
            {
                // A load that succeeds raises the provider's reload token, which was current when the load failed.
                if (loaded.HasChanged)
                {
                    _failures.Remove(provider);
                }
                else
                {
                    errors.Add(error);
                }
            }
        }

        return errors;
    }

    private void OnFailed(FileConfigurationProvider provider, Exception exception)
    {
        var file = provider.Source.FileProvider?.GetFileInfo(provider.Source.Path ?? string.Empty).PhysicalPath ?? provider.Source.Path;
        var reason = exception.GetBaseException().Message;
        CancellationTokenSource failed;
        lock (_lock)
        {
            _failures[provider] = (provider.GetReloadToken(), $"{file}: could not be read ({reason}); the mesh takes no configuration until it reads again");
            failed = _failed;
            _failed = new CancellationTokenSource();
        }

        failed.Cancel();
        failed.Dispose();
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _failed.Dispose();
        }
    }
}
