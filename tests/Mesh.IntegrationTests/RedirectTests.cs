using System.Net;
using System.Net.Http.Headers;
using Mesh.Client;
using Mesh.Testing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.IntegrationTests;

/// <summary>
/// Redirects are followed by the mesh, above the transport: a transport following them itself would look a mesh
/// service's name up in DNS and send past routes, retries, balancing and mesh TLS.
/// </summary>
public sealed class RedirectTests
{
    /// <summary>
    /// Answers <c>/to?status=&amp;location=</c> with that redirect, <c>/loop</c> with a redirect to itself, anything
    /// else with its name, the method, the path, whether Authorization came, and the body.
    /// </summary>
    private static Task<TestBackend> StartRedirectingBackendAsync(string name) => TestBackend.StartAsync(name, async context =>
    {
        var request = context.Request;
        if (request.Path == "/to")
        {
            context.Response.StatusCode = int.Parse(request.Query["status"]!, System.Globalization.CultureInfo.InvariantCulture);
            context.Response.Headers.Location = request.Query["location"].ToString();
            return;
        }

        if (request.Path == "/loop")
        {
            context.Response.StatusCode = 302;
            context.Response.Headers.Location = $"http://{request.Host}/loop"; // the service's name: the mesh's to route
            return;
        }

        using var reader = new StreamReader(request.Body);
        var body = await reader.ReadToEndAsync();
        var authorization = request.Headers.Authorization.Count > 0 ? " auth" : string.Empty;
        await context.Response.WriteAsync($"{name} {request.Method} {request.Path}{authorization} [{body}]");
    });

    private static object Mesh(params (string Service, TestBackend Backend)[] services) => new
    {
        Services = services.ToDictionary(s => s.Service, s => (object)new { Endpoints = new object[] { new { Address = s.Backend.Address } } }),
    };

    private static string To(int status, string location) => $"/to?status={status}&location={Uri.EscapeDataString(location)}";

    [Fact]
    public async Task A_redirect_to_a_mesh_service_is_routed_by_the_mesh()
    {
        await using var first = await StartRedirectingBackendAsync("first");
        await using var second = await StartRedirectingBackendAsync("second");
        await using var mesh = MeshTestClient.Create(Mesh(("redir-svc", first), ("redir-other", second)));

        // Absolute, to the same service and then to another one: neither name is known to DNS.
        using var response = await mesh.Client.GetAsync(new Uri("http://redir-svc" + To(302, "http://redir-other" + To(301, "http://redir-svc/final"))));

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.Content.ReadAsStringAsync()).ShouldBe("first GET /final []");
        response.RequestMessage!.RequestUri.ShouldBe(new Uri("http://redir-svc/final"));
        first.Requests.ShouldBe(2);
        second.Requests.ShouldBe(1);
        second.LastRequestHeaders!["Host"].ToString().ShouldBe("redir-other");
    }

    [Fact]
    public async Task A_handler_from_the_factory_routes_redirects_too()
    {
        await using var backend = await StartRedirectingBackendAsync("factory");
        await using var mesh = MeshTestClient.Create(Mesh(("redir-factory", backend)));
        using var client = new HttpClient(mesh.GetService<MeshHandlerFactory>().CreateHandler());

        var body = await client.GetStringAsync(new Uri("http://redir-factory" + To(307, "http://redir-factory/final")));

        body.ShouldBe("factory GET /final []");
        backend.Requests.ShouldBe(2);
    }

    [Fact]
    public async Task A_303_after_a_post_becomes_a_get_without_body_or_authorization()
    {
        await using var backend = await StartRedirectingBackendAsync("see-other");
        await using var mesh = MeshTestClient.Create(Mesh(("redir-303", backend)));
        using var request = new HttpRequestMessage(HttpMethod.Post, "http://redir-303" + To(303, "/result"))
        {
            Content = new StringContent("order"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "secret");

        using var response = await mesh.Client.SendAsync(request);

        (await response.Content.ReadAsStringAsync()).ShouldBe("see-other GET /result []");
        request.Method.ShouldBe(HttpMethod.Get);
        request.Content.ShouldBeNull();
        request.Headers.Authorization.ShouldBeNull();
        request.RequestUri.ShouldBe(new Uri("http://redir-303/result"));
        response.RequestMessage.ShouldBeSameAs(request);
    }

    [Fact]
    public async Task A_307_keeps_the_post_and_its_body_when_it_can_be_sent_again()
    {
        await using var backend = await StartRedirectingBackendAsync("temporary");
        await using var mesh = MeshTestClient.Create(Mesh(("redir-307", backend)));

        using var response = await mesh.Client.PostAsync(new Uri("http://redir-307" + To(307, "/again")), new StringContent("order"));
        (await response.Content.ReadAsStringAsync()).ShouldBe("temporary POST /again [order]");

        // A stream may not give its bytes twice: the caller gets the redirect.
        using var streamed = await mesh.Client.PostAsync(new Uri("http://redir-307" + To(308, "/again")),
            new StreamContent(new MemoryStream("order"u8.ToArray())));
        streamed.StatusCode.ShouldBe(HttpStatusCode.PermanentRedirect);
        backend.Requests.ShouldBe(3);
    }

    [Fact]
    public async Task A_redirect_from_https_to_http_is_not_followed()
    {
        await using var backend = await StartRedirectingBackendAsync("secure");
        await using var mesh = MeshTestClient.Create(Mesh(("redir-tls", backend)));

        // The caller asked for https (the endpoint's own scheme is the mesh's business): no plaintext after that.
        using var response = await mesh.Client.GetAsync(new Uri("https://redir-tls" + To(302, "http://redir-tls/final")));

        response.StatusCode.ShouldBe(HttpStatusCode.Found);
        backend.Requests.ShouldBe(1);
    }

    [Fact]
    public async Task The_apps_choice_not_to_follow_redirects_is_kept()
    {
        await using var backend = await StartRedirectingBackendAsync("manual");
        await using var mesh = MeshTestClient.Create(Mesh(("redir-manual", backend)), configure: services =>
            services.AddHttpClient("test").ConfigurePrimaryHttpMessageHandler(() => new HttpClientHandler { AllowAutoRedirect = false }));

        using var response = await mesh.Client.GetAsync(new Uri("http://redir-manual" + To(302, "/final")));

        response.StatusCode.ShouldBe(HttpStatusCode.Found);
        response.Headers.Location.ShouldBe(new Uri("/final", UriKind.Relative));
        backend.Requests.ShouldBe(1);
    }

    [Fact]
    public async Task A_redirect_loop_stops_at_the_apps_limit()
    {
        await using var backend = await StartRedirectingBackendAsync("loop");
        await using var mesh = MeshTestClient.Create(Mesh(("redir-loop", backend)), configure: services =>
            services.AddHttpClient("test").ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { MaxAutomaticRedirections = 3 }));

        using var response = await mesh.Client.GetAsync(new Uri("http://redir-loop/loop"));

        response.StatusCode.ShouldBe(HttpStatusCode.Found);
        backend.Requests.ShouldBe(4); // the request and three redirects
    }

    [Fact]
    public async Task A_redirect_loop_stops_at_fifty_by_default()
    {
        await using var backend = await StartRedirectingBackendAsync("loop");
        await using var mesh = MeshTestClient.Create(Mesh(("redir-loop", backend)));

        using var response = await mesh.Client.GetAsync(new Uri("http://redir-loop/loop"));

        response.StatusCode.ShouldBe(HttpStatusCode.Found);
        backend.Requests.ShouldBe(51);
    }

    [Fact]
    public async Task Redirects_between_hosts_outside_the_mesh_are_still_followed()
    {
        await using var other = await StartRedirectingBackendAsync("other");
        await using var mesh = MeshTestClient.Create(Mesh());

        var body = await mesh.Client.GetStringAsync(new Uri(other.Address, To(302, "/final")));

        body.ShouldBe("other GET /final []");
        other.Requests.ShouldBe(2);
    }

    [Fact]
    public async Task A_redirect_out_of_the_mesh_does_not_carry_the_mesh_deadline()
    {
        await using var backend = await StartRedirectingBackendAsync("timed");
        await using var other = await StartRedirectingBackendAsync("other");
        await using var mesh = MeshTestClient.Create(new
        {
            Services = new Dictionary<string, object>
            {
                ["redir-timed"] = new
                {
                    Endpoints = new object[] { new { Address = backend.Address } },
                    Routes = new object[] { new { Name = "default", Timeout = "00:00:30" } },
                },
            },
        });

        var body = await mesh.Client.GetStringAsync(new Uri("http://redir-timed" + To(302, new Uri(other.Address, "/final").ToString())));

        body.ShouldBe("other GET /final []");
        backend.LastRequestHeaders!.ContainsKey("x-mesh-timeout-ms").ShouldBeTrue();
        // The deadline is the mesh's word to its own hop; a host outside the mesh would read it as its caller's.
        other.LastRequestHeaders!.ContainsKey("x-mesh-timeout-ms").ShouldBeFalse();
    }

    [Fact]
    public async Task A_synchronous_send_follows_redirects_through_the_mesh()
    {
        await using var backend = await StartRedirectingBackendAsync("sync");
        await using var mesh = MeshTestClient.Create(Mesh(("redir-sync", backend)));
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://redir-sync" + To(302, "http://redir-sync/final"));

        using var response = await Task.Run(() => mesh.Client.Send(request));

        (await response.Content.ReadAsStringAsync()).ShouldBe("sync GET /final []");
    }
}
