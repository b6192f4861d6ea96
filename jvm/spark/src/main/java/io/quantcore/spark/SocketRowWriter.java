package io.quantcore.spark;

import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import org.apache.spark.sql.ForeachWriter;
import org.apache.spark.sql.Row;

/**
 * The real-time query's sink: each task sends its rows, one line each, over a TCP connection
 * to the driver's writer ({@code streaming/spark/row_socket.py}), which writes them to Redis.
 *
 * <p>A row is {@code (source_partition int, source_offset long, update_id long, dead boolean,
 * exchange_event_us long, mid double, symbol string, json string)}. Each is sent as one frame,
 * flushed at once (the stream is latency-bound and a task sees one row at a time), big-endian:
 * <pre>
 *   int32 length of the rest | int32 partition | int64 offset | int64 update id (null: 0)
 *   | int8 dead | int64 exchange event time, µs (null: Long.MIN_VALUE)
 *   | float64 mid (null: NaN)
 *   | uint16 symbol length | symbol (UTF-8) | the row as JSON (UTF-8)
 * </pre>
 * so the driver reads what it needs of every row (the symbol and update id to keep the newest
 * book, the event time and mid for the realized volatility) without parsing its JSON: it
 * parses the newest book's only. Nothing in a symbol can break the framing. A connection's
 * first frame is the driver's token alone ({@code int32 length | token}): the socket accepts
 * rows from this query only.
 *
 * <p>A task opens one connection per epoch and keeps it; when the driver's reader is slow, the
 * socket's buffers fill and the task blocks, so the query reads no further from Kafka until the
 * rows it holds are written (backpressure, nothing lost). The buffers are small on purpose
 * ({@link #SEND_BUFFER_BYTES} here, the driver's receive buffer there): left to the kernel's
 * autotuning, loopback buffers grow to megabytes a connection, so an overloaded writer fell
 * seconds behind while the tasks took the cores from it.
 *
 * <p>Why not the relay topic (Kafka) it replaces: two more hops (a produce and a fetch) of
 * ~0.1-0.2 ms of CPU each per row, and ~2 ms of the median. Why not a Python ForeachWriter:
 * in real-time mode it hands rows over in pickled batches only at the epoch's end.
 */
public final class SocketRowWriter extends ForeachWriter<Row> {
  private static final long serialVersionUID = 1L;
  private static final int CONNECT_TIMEOUT_MS = 10_000;
  private static final int BUFFER_BYTES = 64 * 1024;
  /** The kernel's send buffer a connection (it doubles the value): a few dozen rows. */
  static final int SEND_BUFFER_BYTES = 32 * 1024;

  private final String host;
  private final int port;
  private final String token;
  private transient Socket socket;
  private transient DataOutputStream out;

  public SocketRowWriter(String host, int port, String token) {
    this.host = host;
    this.port = port;
    this.token = token;
  }

  @Override
  public boolean open(long partitionId, long epochId) {
    try {
      socket = new Socket();
      socket.setTcpNoDelay(true);
      socket.setSendBufferSize(SEND_BUFFER_BYTES);
      socket.connect(new InetSocketAddress(host, port), CONNECT_TIMEOUT_MS);
      out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream(), BUFFER_BYTES));
      byte[] hello = token.getBytes(StandardCharsets.UTF_8);
      out.writeInt(hello.length);
      out.write(hello);
      out.flush();
      return true;
    } catch (IOException e) {
      throw new IllegalStateException(
          "cannot reach the compute driver's row socket at " + host + ":" + port + ": " + e, e);
    }
  }

  @Override
  public void process(Row row) {
    try {
      byte[] symbol = row.isNullAt(6) ? new byte[0] : row.getString(6).getBytes(StandardCharsets.UTF_8);
      byte[] json = row.getString(7).getBytes(StandardCharsets.UTF_8);
      int symbolLength = Math.min(symbol.length, 0xFFFF);  // a longer "symbol" is a dead letter's key
      out.writeInt(4 + 8 + 8 + 1 + 8 + 8 + 2 + symbolLength + json.length);
      out.writeInt(row.getInt(0));
      out.writeLong(row.getLong(1));
      out.writeLong(row.isNullAt(2) ? 0L : row.getLong(2));
      out.writeByte(row.getBoolean(3) ? 1 : 0);
      out.writeLong(row.isNullAt(4) ? Long.MIN_VALUE : row.getLong(4));
      out.writeDouble(row.isNullAt(5) ? Double.NaN : row.getDouble(5));
      out.writeShort(symbolLength);
      out.write(symbol, 0, symbolLength);
      out.write(json);
      out.flush();
    } catch (IOException e) {
      throw new IllegalStateException("the compute driver's row socket failed: " + e, e);
    }
  }

  @Override
  public void close(Throwable errorOrNull) {
    try {
      if (out != null) {
        out.flush();
      }
    } catch (IOException ignored) {
      // the connection is gone: the driver restarts the query from Redis's progress
    } finally {
      try {
        if (socket != null) {
          socket.close();
        }
      } catch (IOException ignored) {
        // closing a broken socket
      }
    }
  }
}
