using Grpc.Core;

namespace Bookinfo;

/// <summary>Bookinfo's ratings as a gRPC service: a book's stars, 1 to 5, derived from its id.</summary>
internal sealed class RatingsService : Ratings.RatingsBase
{
    public override Task<RatingReply> GetRating(RatingRequest request, ServerCallContext context) =>
        Task.FromResult(new RatingReply { Id = request.Id, Stars = 1 + (Math.Abs(request.Id) % 5) });
}
