package io.quantcore.spark;

import com.google.protobuf.ByteString;
import com.google.protobuf.DescriptorProtos.FileDescriptorProto;
import com.google.protobuf.DescriptorProtos.FileDescriptorSet;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.DescriptorValidationException;
import com.google.protobuf.Descriptors.EnumValueDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Descriptors.FileDescriptor;
import com.google.protobuf.DynamicMessage;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.api.java.UDF3;

/**
 * Decodes protobuf bytes into a Spark struct row, driven only by a serialized
 * FileDescriptorSet: our stand-in for spark-protobuf's {@code from_protobuf}, which the
 * registry this project builds from does not serve.
 *
 * <p>Decoding goes straight from the wire bytes to the row ({@link WireRowParser}); only
 * payloads that need protobuf's merge semantics take the slower {@code DynamicMessage} path.
 *
 * <p>Arguments: (payload, FileDescriptorSet bytes, fully-qualified message name). Fields
 * come out in declaration order. Scalars map to the Java types of their Spark types; enums
 * become their value name; nested messages become rows; repeated fields become lists.
 * Fields with presence (proto3 {@code optional}, messages, oneof members) are null when
 * unset; implicit-presence scalars carry their default. A null or undecodable payload
 * yields null (callers route those to the dead-letter topic) instead of failing the task.
 * A descriptor set that does not build, or lacks the message, is a deployment error and
 * throws {@link IllegalArgumentException}.
 *
 * <p>Register from Python with {@code spark.udf.registerJavaFunction(name,
 * "io.quantcore.spark.ProtobufRowDecoder", structType)} (see
 * {@code streaming/spark/protobuf_decode.py}).
 */
public final class ProtobufRowDecoder implements UDF3<byte[], byte[], String, Row> {
  private static final long serialVersionUID = 1L;

  /** Descriptors built once per JVM: building them per row would dominate decoding. */
  private static final ConcurrentHashMap<Key, Descriptor> DESCRIPTORS = new ConcurrentHashMap<>();

  /**
   * The descriptor bytes are a literal, so a task sees the same array on every row; this
   * remembers the last lookup to skip hashing the bytes per row.
   */
  private transient volatile Resolved last;

  @Override
  public Row call(byte[] payload, byte[] descriptorSet, String messageName) {
    if (payload == null || descriptorSet == null || messageName == null) {
      return null;
    }
    Descriptor descriptor = resolve(descriptorSet, messageName);
    try {
      Row row = WireRowParser.forDescriptor(descriptor).parse(payload);
      if (row != WireRowParser.MERGE_NEEDED) {
        return row;
      }
      return toRow(DynamicMessage.parseFrom(descriptor, payload));
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  private Descriptor resolve(byte[] descriptorSet, String messageName) {
    Resolved r = last;
    if (r != null && r.bytes == descriptorSet && r.name.equals(messageName)) {
      return r.descriptor;
    }
    Descriptor d = descriptor(descriptorSet, messageName);
    last = new Resolved(descriptorSet, messageName, d);
    return d;
  }

  /** The cached descriptor of {@code messageName} inside the serialized set. */
  public static Descriptor descriptor(byte[] descriptorSet, String messageName) {
    Key key = new Key(messageName, descriptorSet);
    Descriptor d = DESCRIPTORS.get(key);
    if (d == null) {
      d = DESCRIPTORS.computeIfAbsent(key, k -> build(descriptorSet, messageName));
    }
    return d;
  }

  private static Descriptor build(byte[] descriptorSet, String messageName) {
    FileDescriptorSet set;
    try {
      set = FileDescriptorSet.parseFrom(descriptorSet);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalArgumentException("not a serialized FileDescriptorSet", e);
    }
    Map<String, FileDescriptorProto> protos = new HashMap<>();
    for (FileDescriptorProto p : set.getFileList()) {
      protos.put(p.getName(), p);
    }
    Map<String, FileDescriptor> built = new HashMap<>();
    for (FileDescriptorProto p : set.getFileList()) {
      for (Descriptor m : buildFile(p.getName(), protos, built).getMessageTypes()) {
        Descriptor found = find(m, messageName);
        if (found != null) {
          return found;
        }
      }
    }
    throw new IllegalArgumentException(
        "message " + messageName + " is not in the descriptor set");
  }

  /** Builds a file after its dependencies (the set must be built with --include_imports). */
  private static FileDescriptor buildFile(
      String name, Map<String, FileDescriptorProto> protos, Map<String, FileDescriptor> built) {
    FileDescriptor done = built.get(name);
    if (done != null) {
      return done;
    }
    FileDescriptorProto proto = protos.get(name);
    if (proto == null) {
      throw new IllegalArgumentException(
          "descriptor set lacks " + name + " (build it with --include_imports)");
    }
    List<String> deps = proto.getDependencyList();
    FileDescriptor[] resolved = new FileDescriptor[deps.size()];
    for (int i = 0; i < resolved.length; i++) {
      resolved[i] = buildFile(deps.get(i), protos, built);
    }
    try {
      FileDescriptor fd = FileDescriptor.buildFrom(proto, resolved);
      built.put(name, fd);
      return fd;
    } catch (DescriptorValidationException e) {
      throw new IllegalArgumentException("invalid descriptor " + name, e);
    }
  }

  private static Descriptor find(Descriptor m, String fullName) {
    if (m.getFullName().equals(fullName)) {
      return m;
    }
    for (Descriptor nested : m.getNestedTypes()) {
      Descriptor found = find(nested, fullName);
      if (found != null) {
        return found;
      }
    }
    return null;
  }

  /** One row of the message's fields in declaration order. */
  static Row toRow(Message message) {
    List<FieldDescriptor> fields = message.getDescriptorForType().getFields();
    Object[] values = new Object[fields.size()];
    for (int i = 0; i < values.length; i++) {
      FieldDescriptor f = fields.get(i);
      if (f.isRepeated()) {
        int n = message.getRepeatedFieldCount(f);
        List<Object> items = new ArrayList<>(n);
        for (int j = 0; j < n; j++) {
          items.add(value(f, message.getRepeatedField(f, j)));
        }
        values[i] = items;
      } else if (f.hasPresence() && !message.hasField(f)) {
        values[i] = null;
      } else {
        values[i] = value(f, message.getField(f));
      }
    }
    return RowFactory.create(values);
  }

  /** protobuf-java already boxes scalars as Integer/Long/Float/Double/Boolean/String. */
  private static Object value(FieldDescriptor f, Object v) {
    switch (f.getJavaType()) {
      case ENUM:
        return ((EnumValueDescriptor) v).getName();
      case BYTE_STRING:
        return ((ByteString) v).toByteArray();
      case MESSAGE:
        return toRow((Message) v);
      default:
        return v;
    }
  }

  /** Cache key: message name and the content (not identity) of the descriptor bytes. */
  private static final class Key {
    private final String name;
    private final byte[] bytes;
    private final int hash;

    Key(String name, byte[] bytes) {
      this.name = name;
      this.bytes = bytes.clone();
      this.hash = 31 * name.hashCode() + Arrays.hashCode(bytes);
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Key k
          && hash == k.hash
          && name.equals(k.name)
          && Arrays.equals(bytes, k.bytes);
    }

    @Override
    public int hashCode() {
      return hash;
    }
  }

  private record Resolved(byte[] bytes, String name, Descriptor descriptor) {}
}
