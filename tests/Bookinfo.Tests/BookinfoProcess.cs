using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;

namespace Bookinfo.Tests;

/// <summary>The Bookinfo demo as a child process (<c>dotnet Bookinfo.dll</c>), its output collected line by line; killed on dispose if still running.</summary>
internal sealed class BookinfoProcess : IDisposable
{
    private readonly Process _process;

    private BookinfoProcess(Process process) => _process = process;

    public ConcurrentQueue<string> Lines { get; } = new();

    public string Output => string.Join('\n', Lines);

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public static string DllPath =>
        Path.GetFullPath(typeof(BookinfoProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "BookinfoDll").Value!);

    public static BookinfoProcess Start(params string[] args) => Start(new Dictionary<string, string>(), args);

    /// <summary>Starts the demo with <paramref name="environment"/> added to its environment variables.</summary>
    public static BookinfoProcess Start(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var dll = DllPath;
        File.Exists(dll).ShouldBeTrue($"{dll} is built with this test project");
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(dll);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }
        var process = new Process { StartInfo = info };
        var child = new BookinfoProcess(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                child.Lines.Enqueue(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                child.Lines.Enqueue("stderr: " + e.Data);
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Waits for the process to end (all output read); false when <paramref name="timeout"/> passed first.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>What Ctrl+C sends in a terminal.</summary>
    public void Interrupt()
    {
        using var kill = Process.Start("kill", ["-INT", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process.Dispose();
    }
}
