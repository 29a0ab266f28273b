"""dynorm's blocking API: the same models and operations, for code that does not ``await``
(WSGI apps such as Flask or Django, scripts, notebooks).

```python
import dynorm

with dynorm.blocking.connect(region="eu-west-1"):
    User.sync.create_table()
    user = User(user_id="u1", name="Ada").sync.save()
    same = User.sync.get("u1")
    top = User.query(User.user_id == "u1").limit(10).sync.to_list()
    with dynorm.blocking.transaction() as tx:
        tx.save(user)
```

Every blocking operation is the async operation of the same name, run on an event loop
in a background thread that the connection owns (a *portal*): nothing is implemented
twice, and any number of threads may call at once. See the "Sync or async?" page of
the documentation.
"""

from dynorm.blocking._connection import (
    BlockingConnection,
    close,
    configure,
    connect,
    get_connection,
    local,
)
from dynorm.blocking._functions import (
    apply,
    batch_get,
    create_tables,
    get_many,
    plan,
    transact_get,
)
from dynorm.blocking._portal import BlockingCallInEventLoop
from dynorm.blocking._twins import CollectionTwin, InstanceTwin, ModelTwin, ReadTwin, run
from dynorm.blocking._writes import BlockingBatch, BlockingTransaction, batch, transaction

__all__ = [
    "BlockingBatch",
    "BlockingCallInEventLoop",
    "BlockingConnection",
    "BlockingTransaction",
    "CollectionTwin",
    "InstanceTwin",
    "ModelTwin",
    "ReadTwin",
    "apply",
    "batch",
    "batch_get",
    "close",
    "configure",
    "connect",
    "create_tables",
    "get_connection",
    "get_many",
    "local",
    "plan",
    "run",
    "transact_get",
    "transaction",
]
