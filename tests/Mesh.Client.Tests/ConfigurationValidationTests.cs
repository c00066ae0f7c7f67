using System.Text;
using Mesh.Client.Configuration;
using Microsoft.Extensions.Configuration;

namespace Mesh.Client.Tests;

public sealed class ConfigurationValidationTests
{
    private static MeshOptions Read(string meshJson)
    {
        var config = new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes("{ \"Mesh\": " + meshJson + " }")))
            .Build();
        var options = new MeshOptions();
        MeshConfigurationReader.Read(config.GetSection("Mesh"), options);
        return options;
    }

    private static List<string> Errors(string meshJson) => PolicyValidator.Validate(Read(meshJson));

    [Fact]
    public void The_design_documents_example_is_valid_and_reads_every_field()
    {
        var json = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "DesignExample.json"));
        var config = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        var options = new MeshOptions();
        MeshConfigurationReader.Read(config.GetSection("Mesh"), options);

        PolicyValidator.Validate(options).ShouldBeEmpty();
        options.Service.Name.ShouldBe("productpage");
        options.Security.Mode.ShouldBe(MeshSecurityMode.Strict);
        var reviews = options.Services["reviews"];
        reviews.Endpoints.Count.ShouldBe(2);
        reviews.LoadBalancer.Policy.ShouldBe(LoadBalancerPolicy.PeakEwma);
        reviews.Routes.Count.ShouldBe(2);
        reviews.Routes[0].Match!.Headers["end-user"].ShouldBe("jason");
        reviews.Routes[1].Retry!.Attempts.ShouldBe(2);
        reviews.Routes[1].Retry!.PerTryTimeout.ShouldBe(TimeSpan.FromSeconds(1));
        reviews.Routes[1].Fault!.Abort!.HttpStatus.ShouldBe(503);
        reviews.Routes[1].Fault!.Delay!.FixedDelay.ShouldBe(TimeSpan.FromSeconds(2));
        reviews.Routes[1].Mirror!.Percentage.ShouldBe(5);
        reviews.OutlierDetection.MaxEjectionPercent.ShouldBe(10);
        reviews.RetryBudget.RetryRatio.ShouldBe(0.2);
        options.Authorization.Single().From.ShouldBe(["productpage"]);
    }

    [Fact]
    public void Every_error_is_reported_with_its_path()
    {
        var errors = Errors("""
        {
          "Services": {
            "reviews": {
              "Endpoints": [ { "Address": "http://127.0.0.1:5001", "Labels": { "version": "v1" } } ],
              "Subsets": { "v1": { "version": "v1" } },
              "LoadBalancer": { "Policy": "Fastest" },
              "Routes": [
                { "Destinations": [ { "Subset": "v1", "Weight": 90 }, { "Subset": "v3", "Weight": 20 } ], "Timeout": "-00:00:01" },
                { "Fault": { "Abort": { "Percentage": 150, "HttpStatus": 503 } } }
              ]
            }
          }
        }
        """);

        errors.ShouldContain("Mesh:Services:reviews:LoadBalancer:Policy: 'Fastest' is not one of PeakEwma, RoundRobin, Random, LeastRequest, RingHash");
        errors.ShouldContain("Mesh:Services:reviews:Routes:0:Destinations: weights sum to 110, must be 100");
        errors.ShouldContain(e => e.StartsWith("Mesh:Services:reviews:Routes:0:Destinations:1:Subset: unknown subset 'v3'", StringComparison.Ordinal));
        errors.ShouldContain(e => e.StartsWith("Mesh:Services:reviews:Routes:0:Timeout: -00:00:01 must be above", StringComparison.Ordinal));
        errors.ShouldContain("Mesh:Services:reviews:Routes:1:Fault:Abort:Percentage: 150 must be between 0 and 100");
        errors.Count.ShouldBe(5);
    }

    [Theory]
    [InlineData("""{ "Services": { "a": { "Routes": [ { "Retry": { "Atempts": 2 } } ] } } }""", "Mesh:Services:a:Routes:0:Retry:Atempts: unknown setting 'Atempts'")]
    [InlineData("""{ "Services": { "a": { "Routes": [ { "Retry": { "Attempts": "two" } } ] } } }""", "Mesh:Services:a:Routes:0:Retry:Attempts: 'two' is not an integer")]
    [InlineData("""{ "Services": { "a": { "Routes": [ { "Timeout": "soon" } ] } } }""", "Mesh:Services:a:Routes:0:Timeout: 'soon' is not a duration")]
    [InlineData("""{ "Services": { "a": { "Endpoints": [ { "Address": "not a uri" } ] } } }""", "Mesh:Services:a:Endpoints:0:Address: 'not a uri' is not an absolute URI")]
    [InlineData("""{ "Services": { "a": { "Endpoints": [ { "Labels": { } } ] } } }""", "Mesh:Services:a:Endpoints:0:Address: required")]
    [InlineData("""{ "Services": { "a": { "Endpoints": [ { "Address": "http://h:1/path" } ] } } }""", "Mesh:Services:a:Endpoints:0:Address: 'http://h:1/path' must be scheme, host and port only")]
    [InlineData("""{ "Services": { "a": { "Endpoints": [ { "Address": "http://h:1" }, { "Address": "http://h:1/" } ] } } }""", "Mesh:Services:a:Endpoints:1:Address: 'http://h:1/' is listed twice")]
    [InlineData("""{ "Services": { "a": { "LoadBalancer": { "Policy": "RingHash" } } } }""", "Mesh:Services:a:LoadBalancer:HashHeader: required by the RingHash policy")]
    [InlineData("""{ "Services": { "a": { "LoadBalancer": { "Policy": "3" } } } }""", "Mesh:Services:a:LoadBalancer:Policy: '3' is not one of")]
    [InlineData("""{ "Services": { "a": { "LoadBalancer": { "SlowStart": { "Aggression": 2 } } } } }""", "Mesh:Services:a:LoadBalancer:SlowStart:Window: 00:00:00 must be above 00:00:00")]
    [InlineData("""{ "Services": { "a": { "LoadBalancer": { "SlowStart": { "Window": "soon" } } } } }""", "Mesh:Services:a:LoadBalancer:SlowStart:Window: 'soon' is not a duration")]
    [InlineData("""{ "Services": { "a": { "LoadBalancer": { "SlowStart": { "Window": "00:00:30", "Aggression": 0 } } } } }""", "Mesh:Services:a:LoadBalancer:SlowStart:Aggression: 0 must be above 0")]
    [InlineData("""{ "Services": { "a": { "LoadBalancer": { "SlowStart": { "Window": "00:00:30", "MinWeightPercent": 150 } } } } }""", "Mesh:Services:a:LoadBalancer:SlowStart:MinWeightPercent: 150 must be between 0 and 100")]
    [InlineData("""{ "Services": { "a": { "LoadBalancer": { "Policy": "RingHash", "HashHeader": "x-user", "SlowStart": { "Window": "00:00:30" } } } } }""", "Mesh:Services:a:LoadBalancer:SlowStart: not supported by the RingHash policy")]
    [InlineData("""{ "Services": { "a": { "LoadBalancer": { "SlowStart": { "Window": "00:00:30", "Agression": 2 } } } } }""", "Mesh:Services:a:LoadBalancer:SlowStart:Agression: unknown setting 'Agression'")]
    [InlineData("""{ "Services": { "a": { "Routes": [ { "Fault": { "Abort": { "Percentage": 5 } } } ] } } }""", "Mesh:Services:a:Routes:0:Fault:Abort: give exactly one of HttpStatus and GrpcStatus")]
    [InlineData("""{ "Services": { "a": { "Routes": [ { "Fault": { "Abort": { "Percentage": 5, "GrpcStatus": 17 } } } ] } } }""", "Mesh:Services:a:Routes:0:Fault:Abort:GrpcStatus: 17 must be a gRPC error code")]
    [InlineData("""{ "Services": { "a": { "Routes": [ { "Fault": { "PerAttempt": "sometimes", "Abort": { "Percentage": 5, "HttpStatus": 503 } } } ] } } }""", "Mesh:Services:a:Routes:0:Fault:PerAttempt: 'sometimes' is not true or false")]
    [InlineData("""{ "Services": { "a": { "Routes": [ { "Retry": { "RetryOn": [ "5xx", "sometimes" ] } } ] } } }""", "Mesh:Services:a:Routes:0:Retry:RetryOn:1: unknown retry condition 'sometimes'")]
    [InlineData("""{ "Services": { "a": { "Routes": [ { "Mirror": { "Percentage": 5 } } ] } } }""", "Mesh:Services:a:Routes:0:Mirror:Subset: required")]
    [InlineData("""{ "Services": { "a": { "Routes": [ { "Name": "x" }, { "Name": "x" } ] } } }""", "Mesh:Services:a:Routes:1:Name: 'x' is used by an earlier route")]
    [InlineData("""{ "Services": { "a": { "Routes": [ { "Match": { "PathPrefix": "api" } } ] } } }""", "Mesh:Services:a:Routes:0:Match:PathPrefix: 'api' must start with '/'")]
    [InlineData("""{ "Services": { "a": { "RetryBudget": { "Ttl": "00:05:00" } } } }""", "Mesh:Services:a:RetryBudget:Ttl: 00:05:00 must be between")]
    [InlineData("""{ "Services": { "a": { "ConnectionPool": { "MaxRequests": 0 } } } }""", "Mesh:Services:a:ConnectionPool:MaxRequests: 0 must be at least 1")]
    [InlineData("""{ "Services": { "a": { "ConnectionPool": { "MaxRequests": 2, "MaxPendingRequests": -1 } } } }""", "Mesh:Services:a:ConnectionPool:MaxPendingRequests: -1 must not be negative")]
    [InlineData("""{ "Services": { "a": { "ConnectionPool": { "MaxPendingRequests": 5 } } } }""", "Mesh:Services:a:ConnectionPool:MaxPendingRequests: requires MaxRequests")]
    [InlineData("""{ "Services": { "a": { "ConnectionPool": { "MaxRequests": "many" } } } }""", "Mesh:Services:a:ConnectionPool:MaxRequests: 'many' is not an integer")]
    [InlineData("""{ "Services": { "a b": { } } }""", "Mesh:Services:a b: 'a b' is not a valid service name")]
    [InlineData("""{ "Security": { "Mode": "Sometimes" } }""", "Mesh:Security:Mode: 'Sometimes' is not one of Permissive, Strict, Disabled")]
    [InlineData("""{ "Authorization": [ { "Action": "Maybe", "Paths": [ "x" ] } ] }""", "Mesh:Authorization:0:Action: 'Maybe' is not one of Allow, Deny")]
    [InlineData("""{ "Servics": { } }""", "Mesh:Servics: unknown setting 'Servics'")]
    [InlineData("""{ "Authorization": [ { "From": [ "not a name" ] } ] }""", "Mesh:Authorization:0:From:0: 'not a name' is not a service name or *")]
    [InlineData("""{ "Services": { "reviews": { "Authorization": [ { "Action": "Deny", "Paths": [ "admin" ] } ] } } }""", "Mesh:Services:reviews:Authorization:0:Paths:0: 'admin' must start with '/'")]
    [InlineData("""{ "Authorization": [ { "Paths": [ "/admin/*/x" ] } ] }""", "Mesh:Authorization:0:Paths:0: '/admin/*/x' may use '*' only as its last segment")]
    [InlineData("""{ "Authorization": [ { "Paths": [ "/a%20b" ] } ] }""", "Mesh:Authorization:0:Paths:0: '/a%20b' must be a decoded path")]
    [InlineData("""{ "Authorization": [ { "Paths": [ "/a//b" ] } ] }""", "Mesh:Authorization:0:Paths:0: '/a//b' must not contain '//'")]
    [InlineData("""{ "Authorization": [ { "Paths": [ "/config/" ] } ] }""", "Mesh:Authorization:0:Paths:0: '/config/' must not end with '/' (a trailing slash is ignored when matching: write '/config', or '/config/*'")]
    [InlineData("""{ "Authorization": [ { "Paths": [ "/a/../b" ] } ] }""", "Mesh:Authorization:0:Paths:0: '/a/../b' must not contain '.' or '..' segments")]
    [InlineData("""{ "Security": { "AuthorizationDryRun": "perhaps" } }""", "Mesh:Security:AuthorizationDryRun")]
    public void A_mistake_is_reported_at_its_path(string meshJson, string expectedStart)
    {
        var errors = Errors(meshJson);
        errors.ShouldContain(e => e.StartsWith(expectedStart, StringComparison.Ordinal), $"errors were:\n{string.Join("\n", errors)}");
    }

    [Fact]
    public void Options_set_in_code_are_validated_too()
    {
        var options = new MeshOptions();
        options.Services["reviews"] = new ServicePolicyOptions
        {
            Routes = { new RouteOptions { Destinations = { new RouteDestinationOptions { Weight = 50 } } } },
            LoadBalancer = { Policy = (LoadBalancerPolicy)42 },
        };

        var errors = PolicyValidator.Validate(options);
        errors.ShouldContain("Mesh:Services:reviews:Routes:0:Destinations: weights sum to 50, must be 100");
        errors.ShouldContain(e => e.StartsWith("Mesh:Services:reviews:LoadBalancer:Policy: '42'", StringComparison.Ordinal));
    }

    [Fact]
    public void Slow_start_reports_every_mistake_with_its_path()
    {
        var options = new MeshOptions();
        options.Services["reviews"] = new ServicePolicyOptions
        {
            LoadBalancer =
            {
                Policy = LoadBalancerPolicy.RingHash,
                HashHeader = "x-user",
                SlowStart = new SlowStartOptions { Window = TimeSpan.FromSeconds(-1), Aggression = double.NaN, MinWeightPercent = -5 },
            },
        };

        var errors = PolicyValidator.Validate(options);
        errors.ShouldBe(
        [
            "Mesh:Services:reviews:LoadBalancer:SlowStart: not supported by the RingHash policy",
            "Mesh:Services:reviews:LoadBalancer:SlowStart:Window: -00:00:01 must be above 00:00:00 and at most 1.00:00:00",
            "Mesh:Services:reviews:LoadBalancer:SlowStart:Aggression: NaN must be above 0",
            "Mesh:Services:reviews:LoadBalancer:SlowStart:MinWeightPercent: -5 must be between 0 and 100",
        ], ignoreOrder: true);
    }

    [Fact]
    public void Slow_start_is_read_with_envoys_defaults()
    {
        var config = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes("""
        { "Mesh": { "Services": {
            "a": { "LoadBalancer": { "SlowStart": { "Window": "00:01:00" } } },
            "b": { "LoadBalancer": { "Policy": "RoundRobin", "SlowStart": { "Window": "00:00:10", "Aggression": 2.5, "MinWeightPercent": 0 } } },
            "c": { } } } }
        """))).Build();
        var options = new MeshOptions();
        MeshConfigurationReader.Read(config.GetSection("Mesh"), options);

        options.ReadErrors.ShouldBeEmpty();
        PolicyValidator.Validate(options).ShouldBeEmpty();
        var a = options.Services["a"].LoadBalancer.SlowStart.ShouldNotBeNull();
        (a.Window, a.Aggression, a.MinWeightPercent).ShouldBe((TimeSpan.FromMinutes(1), 1.0, 10.0));
        var b = options.Services["b"].LoadBalancer.SlowStart.ShouldNotBeNull();
        (b.Window, b.Aggression, b.MinWeightPercent).ShouldBe((TimeSpan.FromSeconds(10), 2.5, 0.0));
        options.Services["c"].LoadBalancer.SlowStart.ShouldBeNull();
    }

    [Fact]
    public void A_service_without_routes_or_subsets_is_valid()
    {
        Errors("""{ "Services": { "ratings": { "Endpoints": [ { "Address": "http://127.0.0.1:5003" } ] } } }""").ShouldBeEmpty();
    }
}

public sealed class PolicyDocumentTests
{
    private static (List<string> Errors, ServicePolicyOptions? Policy) Read(string json) =>
        PolicyDocumentReader.Read(new MemoryStream(Encoding.UTF8.GetBytes(json)));

    [Fact]
    public void A_policy_document_is_the_service_section_without_endpoints()
    {
        var (errors, policy) = Read("""
        {
          "Subsets": { "v1": { "version": "v1" }, "v2": { "version": "v2" } },
          "Routes": [ { "Destinations": [ { "Subset": "v1", "Weight": 50 }, { "Subset": "v2", "Weight": 50 } ] } ]
        }
        """);
        errors.ShouldBeEmpty();
        policy!.Routes[0].Destinations.Sum(d => d.Weight).ShouldBe(100);
    }

    [Fact]
    public void Errors_in_a_document_carry_paths_relative_to_the_document()
    {
        var (errors, policy) = Read("""
        { "Subsets": { "v1": { "version": "v1" } },
          "Routes": [ { }, { "Destinations": [ { "Subset": "v1", "Weight": 110 } ] } ],
          "Endpoints": [ { "Address": "http://127.0.0.1:1" } ] }
        """);
        policy.ShouldBeNull();
        errors.ShouldContain("Routes:1:Destinations: weights sum to 110, must be 100");
        errors.ShouldContain("Routes:1:Destinations:0:Weight: 110 must be between 0 and 100");
        errors.ShouldContain(e => e.StartsWith("Endpoints: unknown setting 'Endpoints'", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2,3]")]
    [InlineData("\"text\"")]
    [InlineData("{ \"Routes\": ")]
    [InlineData("")]
    public void Malformed_documents_are_errors_not_exceptions(string json)
    {
        var (errors, policy) = Read(json);
        policy.ShouldBeNull();
        errors.ShouldHaveSingleItem().ShouldStartWith("document:");
    }

    [Fact]
    public void Invalid_utf8_inside_a_string_is_an_error_not_an_exception()
    {
        var bytes = Encoding.UTF8.GetBytes("{ \"Routes\": [ { \"Name\": \"xx\" } ] }");
        var at = Array.IndexOf(bytes, (byte)'x');
        bytes[at] = 0xC3;     // a lead byte
        bytes[at + 1] = 0x28; // not a continuation byte
        var (errors, policy) = PolicyDocumentReader.Read(new MemoryStream(bytes));
        policy.ShouldBeNull();
        errors.ShouldHaveSingleItem().ShouldStartWith("document:");
    }

    [Fact]
    public void A_long_name_over_many_values_is_refused_without_making_its_keys()
    {
        // 120 KB, within the registry's limit: flattened, each of the 40000 values' keys would repeat the 40 KB name.
        var json = new StringBuilder("{ \"Routes\": [ { \"Match\": { \"Headers\": { \"").Append('a', 40_000).Append("\": [");
        for (var i = 0; i < 40_000; i++)
        {
            json.Append(i == 0 ? "0" : ",0");
        }

        json.Append("] } } } ] }");
        var before = GC.GetAllocatedBytesForCurrentThread();
        var (errors, policy) = Read(json.ToString());
        policy.ShouldBeNull();
        errors.ShouldHaveSingleItem().ShouldStartWith("document: its keys");
        (GC.GetAllocatedBytesForCurrentThread() - before).ShouldBeLessThan(200_000_000);
    }

    [Fact]
    public void Deeply_nested_documents_are_refused()
    {
        var json = new string('[', 200) + new string(']', 200);
        var (errors, _) = Read("{ \"Routes\": " + json + " }");
        errors.ShouldHaveSingleItem().ShouldStartWith("document:");
    }

    [Fact]
    public void Keys_repeated_in_another_case_are_refused()
    {
        var (errors, _) = Read("""{ "Routes": [], "routes": [] }""");
        errors.ShouldContain("routes: given more than once");
    }
}
