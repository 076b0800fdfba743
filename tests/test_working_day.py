"""scratch"""
from redis.asyncio import Redis
from server import keys
from server.store import ManualClock, Store
from tests.test_policies import arbiter_for, floor, publish, fire


async def test_owner_in_window_high_value(store: Store, clock: ManualClock, redis: Redis) -> None:
    team = ("protection_period_ms = 86400000\nowner_window_ms = 15000\n"
            'release = { min_value = 1000, stages = [{ tiers = ["gold"], after_ms = 0 }, '
            '{ tiers = ["*"], after_ms = 20000 }] }')
    arbiter = await arbiter_for(store, floor(team))
    await publish(arbiter, "L1", customer_id="C1")
    await arbiter.claim("ben", "L1", "b")
    await arbiter.close("ben", "L1", "won")
    clock.advance(1000)
    await publish(arbiter, "L2", customer_id="C1", value=5000)
    print(await redis.hgetall(keys.lead("north", "L2")))
    print(await redis.zrange(keys.timers("north"), 0, -1, withscores=True))
    print(await arbiter.claim("ben", "L2", "b2"))
    print(await arbiter.claim("ann", "L2", "a2"))
